import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/index.js';
import { CommitDebounce } from './commit-debounce.js';

function setup(): { clock: ManualClock; debounce: CommitDebounce; fired: number[] } {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const debounce = new CommitDebounce(clock, 50, 1000, () => fired.push(clock.now()));
  return { clock, debounce, fired };
}

describe('commit debounce', () => {
  it('fires once the commits have been quiet for the gap', () => {
    const { clock, debounce, fired } = setup();
    debounce.poke();
    clock.advance(30);
    debounce.poke();
    clock.advance(49);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([80]);
    expect(debounce.armed).toBe(false);
  });

  it('fires at the maximum latency when commits never pause', () => {
    const { clock, debounce, fired } = setup();
    for (let t = 0; t < 1500 && fired.length === 0; t += 40) {
      debounce.poke();
      clock.advance(40);
    }
    expect(fired).toEqual([1000]);
  });

  it('starts a fresh latency budget after firing', () => {
    const { clock, debounce, fired } = setup();
    debounce.poke();
    clock.advance(50);
    clock.advance(500);
    debounce.poke();
    clock.advance(50);
    expect(fired).toEqual([50, 600]);
  });

  it('fires nothing once disposed', () => {
    const { clock, debounce, fired } = setup();
    debounce.poke();
    debounce.dispose();
    debounce.poke();
    clock.advance(2000);
    expect(fired).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });
});
