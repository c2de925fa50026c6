/** Pieces shared by every stored object. */

/** Set by the store: callers never choose versions or timestamps. */
export interface Meta {
  /** Store version of the change set that last wrote the object; the optimistic-concurrency token. */
  readonly version: number;
  /** Milliseconds since the epoch, from the proposer's clock. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type Labels = Readonly<Record<string, string>>;

/** A pluggable driver (volume, network, IPAM) and its options. */
export interface Driver {
  readonly name: string;
  readonly options?: Readonly<Record<string, string>>;
}
