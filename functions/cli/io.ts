/**
 * Where commands write: the CLI passes stdout and stderr, tests capture. `out` and `err` write
 * whole lines. The `…Part` writers, where given, write text without ending the line, so that a
 * streamed answer shows as it arrives; without them, such text is held until its line is complete.
 */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  outPart?(text: string): void;
  errPart?(text: string): void;
}

/**
 * Text written piece by piece to one of the Io's streams: through its `…Part` writer when it has
 * one, else line by line. `end` completes the open line, if any.
 */
export class PartWriter {
  readonly #line: (text: string) => void;
  readonly #part: ((text: string) => void) | undefined;
  #held = '';
  #open = false;

  constructor(io: Io, stream: 'out' | 'err') {
    this.#line = (text) => io[stream](text);
    const part = stream === 'out' ? io.outPart : io.errPart;
    this.#part = part === undefined ? undefined : (text) => part.call(io, text);
  }

  /** Whether a line has been started and not ended. */
  get open(): boolean {
    return this.#open;
  }

  write(text: string): void {
    if (text === '') return;
    this.#open = !text.endsWith('\n');
    if (this.#part !== undefined) {
      this.#part(text);
      return;
    }
    this.#held += text;
    let newline = this.#held.indexOf('\n');
    while (newline >= 0) {
      this.#line(this.#held.slice(0, newline));
      this.#held = this.#held.slice(newline + 1);
      newline = this.#held.indexOf('\n');
    }
  }

  end(): void {
    if (this.#open) this.write('\n');
  }
}
