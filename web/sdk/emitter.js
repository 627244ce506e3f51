// A tiny event emitter: the SDK must run without a DOM (workers, Node), so no EventTarget/CustomEvent.

/** Minimal typed-by-convention event emitter; each class documents its events. */
export class Emitter {
  /** @type {Map<string, Set<(detail: any) => void>>} */
  #handlers = new Map();

  /**
   * Subscribes to an event.
   * @param {string} type
   * @param {(detail: any) => void} fn
   * @returns {() => void} unsubscribes
   */
  on(type, fn) {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  /**
   * @param {string} type
   * @param {(detail: any) => void} fn
   */
  off(type, fn) {
    this.#handlers.get(type)?.delete(fn);
  }

  /**
   * Calls every handler of type; a throwing handler is reported and does not stop the others.
   * @param {string} type
   * @param {any} [detail]
   */
  emit(type, detail) {
    const set = this.#handlers.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`p2plobby: ${type} handler failed`, err);
      }
    }
  }
}
