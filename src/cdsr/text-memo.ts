// What was read from a table's text, kept for the next reading of the same text. The service
// reads its tables at start and again at each reload, where most files have not changed; the
// tests read the shipped tables hundreds of times (a server per test). Only what depends on the
// text alone is kept (a parse, a compiled expression), never what names the file: the problems of
// a table carry its path and are made anew. What is kept is frozen, deep, so that no reader can
// change what the next one gets (a write to it throws). At most `limit` texts are kept, and at most
// `maxChars` characters of them, the least recently read forgotten first: the service reloads its
// tables at every save of a file, and each saved version of a large table would otherwise stay
// (a 3,000-row crosswalk saved 256 times held some 190 MB); a text longer than that is not kept.

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class TextMemo<V> {
  private readonly kept = new Map<string, V>();
  private chars = 0;
  constructor(
    private readonly limit = 256,
    private readonly maxChars = 2 * 1024 * 1024,
  ) {}

  /** `make(text)`'s value for this text: kept from an earlier call, or made (and kept, unless `keep` says no). */
  get(text: string, make: (text: string) => V, keep: (value: V) => boolean = () => true): V {
    const hit = this.kept.get(text);
    if (hit !== undefined) {
      // most recently read last, so the first key is the one to forget
      this.kept.delete(text);
      this.kept.set(text, hit);
      return hit;
    }
    const value = make(text);
    if (text.length <= this.maxChars && keep(value)) {
      this.kept.set(text, value);
      this.chars += text.length;
      while (this.kept.size > this.limit || this.chars > this.maxChars) {
        const oldest = this.kept.keys().next().value as string;
        this.kept.delete(oldest);
        this.chars -= oldest.length;
      }
    }
    return value;
  }

  get size(): number {
    return this.kept.size;
  }

  /** The characters of the texts kept. */
  get keptChars(): number {
    return this.chars;
  }
}
