// A bounded memo of Cedar answers, kept in two generations instead of a strict LRU.
//
// A strict LRU over a Map moves an entry on every hit (delete, then set with the new lookup
// key). On the broker's hot path nearly every decision is a hit, so every hit wrote to the
// table, kept the new key string alive, and made the table rehash every few thousand
// deletions. Here a hit in the recent generation writes nothing.

export interface Memo<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  /** Entries held, at most 2 × capacity (one the recent generation took over from the older counts twice until it ages out). */
  readonly size: number;
}

/**
 * A memo that keeps every entry used within the last `capacity` insertions, as an LRU of
 * `capacity` would, and holds at most `2 × capacity`. New entries and hits on older ones go
 * to the recent generation; when it holds `capacity` it becomes the older one and the one
 * before it is dropped. So an entry stays for at least `capacity − 1` insertions after its
 * last use, and for at most `2 × capacity`.
 *
 * @example
 * const memo = createMemo<number>(4096);
 * memo.set('k', 1);
 * memo.get('k') // 1
 */
export function createMemo<V>(capacity: number): Memo<V> {
  const full = Math.max(1, Math.floor(capacity));
  let recent = new Map<string, V>();
  let older = new Map<string, V>();
  const set = (key: string, value: V): void => {
    recent.set(key, value);
    if (recent.size >= full) {
      older = recent;
      recent = new Map();
    }
  };
  return {
    get(key) {
      const hit = recent.get(key);
      if (hit !== undefined) return hit;
      const old = older.get(key);
      if (old !== undefined) set(key, old);
      return old;
    },
    set,
    get size() {
      return recent.size + older.size;
    },
  };
}
