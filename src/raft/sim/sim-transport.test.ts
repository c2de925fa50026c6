import { describe, expect, it } from 'vitest';
import { EventQueue } from './event-queue.js';
import { Incarnation } from './sim-transport.js';

describe('Incarnation clock (clock-rate skew)', () => {
  it('runs timers and time at the node rate, changing rate mid-way without a jump', () => {
    const q = new EventQueue();
    const life = new Incarnation('n1', 1, q, 2);
    const clock = life.clock();
    const fired: number[] = [];
    clock.setTimer(100, () => fired.push(q.now));
    while (q.step(60) !== undefined) {}
    // Twice as fast: 100 local ms are 50 simulated ms.
    expect(fired).toEqual([50]);
    q.schedule(10, 'x', () => {});
    while (q.step(60) !== undefined) {}
    expect(clock.now()).toBe(120);
    life.setClockRate(0.5);
    clock.setTimer(10, () => fired.push(q.now));
    while (q.step() !== undefined) {}
    // Half as fast from 60 on: 10 local ms take 20 simulated ms, local time continues from 120.
    expect(fired).toEqual([50, 80]);
    expect(clock.now()).toBe(130);
  });

  it('a paused node runs no timers until it resumes, whatever its rate', () => {
    const q = new EventQueue();
    const life = new Incarnation('n1', 1, q, 1.5);
    const fired: number[] = [];
    life.pause(100);
    life.clock().setTimer(30, () => fired.push(q.now));
    while (q.step() !== undefined) {}
    expect(fired).toEqual([100]);
  });
});
