/**
 * The log pane of the opened run: lines as they stream, coloured by stream (bosun's own SYSTEM
 * lines dimmed, STDERR in red), kept scrolled to the end unless the reader scrolled up. The pane
 * carries `data-last-seq` and `data-state` (streaming, ended, waiting).
 */
import { h, replaceChildren, setModifier, setText } from '../dom.js';
import { formatClock } from '../format.js';

/** Pixels from the bottom within which the pane follows new lines. */
const STICK_PX = 24;

export class LogView {
  /**
   * @param {import('../log-follower.js').LogFollower} follower
   * @param {import('../connection.js').Connection} connection
   */
  constructor(follower, connection) {
    this.follower = follower;
    this.connection = connection;
    this.state = h('span.log-state');
    this.count = h('span.muted');
    this.pane = h('div.log-pane', { 'data-testid': 'log-pane', tabindex: 0, role: 'log', 'aria-live': 'off' });
    this.element = h('section.detail-logs', null, h('header.section-head', null, h('h4', null, 'Logs'), this.state, this.count), this.pane);
    this.unsubscribe = follower.on((event) => this.#onEvent(event));
    this.unwatchConnection = connection.onState(() => this.#renderState());
    this.#reset();
  }

  /** @param {import('../log-follower.js').LogEvent} event */
  #onEvent(event) {
    if (event.type === 'reset') this.#reset();
    else if (event.type === 'lines') this.#append(event.entries);
    this.#renderState();
  }

  #reset() {
    replaceChildren(this.pane, h('p.log-empty', null, 'No output yet — lines appear here as the run writes them.'));
    this.pane.dataset.lastSeq = '0';
  }

  #append(entries) {
    const stick = this.pane.scrollHeight - this.pane.scrollTop - this.pane.clientHeight < STICK_PX;
    this.pane.querySelector('.log-empty')?.remove();
    const fragment = document.createDocumentFragment();
    for (const entry of entries) {
      if ('gap' in entry) {
        fragment.append(h('div.log-gap', null, `… ${entry.gap} line${entry.gap === 1 ? '' : 's'} no longer kept by bosun`));
        continue;
      }
      fragment.append(
        h(
          'div.log-line',
          { class: `stream-${entry.stream.toLowerCase()}`, dataset: { seq: String(entry.seq) } },
          h('span.log-seq', null, entry.seq),
          h('span.log-time', null, formatClock(entry.at)),
          h('span.log-text', null, entry.line),
        ),
      );
    }
    this.pane.append(fragment);
    while (this.pane.childElementCount > 5_000) this.pane.firstElementChild?.remove();
    this.pane.dataset.lastSeq = String(this.follower.lastSeq);
    if (stick) this.pane.scrollTop = this.pane.scrollHeight;
  }

  #renderState() {
    const { follower } = this;
    const connected = this.connection.state().status === 'connected';
    const state = follower.error ? 'error' : follower.ended ? 'ended' : connected ? 'streaming' : 'waiting';
    this.pane.dataset.state = state;
    setModifier(this.state, 'log-state-', state);
    setText(
      this.state,
      follower.error
        ? `stopped: ${follower.error}`
        : follower.ended
          ? 'complete'
          : connected
            ? 'streaming live'
            : `paused — resumes after line ${follower.lastSeq}`,
    );
    const lines = follower.entries.filter((entry) => !('gap' in entry)).length;
    setText(this.count, `${lines} line${lines === 1 ? '' : 's'}`);
  }

  destroy() {
    this.unsubscribe();
    this.unwatchConnection();
    this.element.remove();
  }
}
