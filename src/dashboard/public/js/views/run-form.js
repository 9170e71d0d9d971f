/**
 * The form that starts a run (`startAgent`): a group name, the shell steps one per line, and
 * optional image and limits (blank = bosun's defaults). The server validates; its message, which
 * names the field, is shown as it is.
 */
import { h, replaceChildren, showMessage } from '../dom.js';
import { shortId } from '../format.js';
import { mutate } from '../http.js';
import { START_AGENT } from '../operations.js';

/**
 * @param {HTMLElement} root the card
 * @param {import('../store.js').Store} store
 * @param {{ followPosition: (runId: string) => void }} feed
 */
export function mountRunForm(root, store, feed) {
  const field = (label, control, hint) =>
    h('label.field', null, h('span.field-label', null, label), control, hint ? h('span.hint', null, hint) : null);
  const group = h('input', {
    name: 'group',
    required: true,
    maxlength: 256,
    placeholder: 'flaky unit tests',
    autocomplete: 'off',
    'data-testid': 'form-group',
  });
  const steps = h('textarea', {
    name: 'steps',
    required: true,
    rows: 4,
    spellcheck: 'false',
    placeholder: 'npm ci\nnpm test',
    'data-testid': 'form-steps',
  });
  const image = h('input', { name: 'image', placeholder: 'server default', autocomplete: 'off', 'data-testid': 'form-image' });
  const cpus = h('input', { name: 'cpus', type: 'number', min: 0.01, step: 0.01, placeholder: 'default', 'data-testid': 'form-cpus' });
  const memory = h('input', { name: 'memory', placeholder: '512m', autocomplete: 'off', 'data-testid': 'form-memory' });
  const pids = h('input', { name: 'pids', type: 'number', min: 1, step: 1, placeholder: 'default', 'data-testid': 'form-pids' });
  const timeout = h('input', { name: 'timeout', type: 'number', min: 1, step: 1, placeholder: 'default', 'data-testid': 'form-timeout' });
  const submit = h('button.btn.btn-primary.btn-wide', { type: 'submit', 'data-testid': 'form-submit' }, 'Start run');
  const message = h('p.form-message', { role: 'status', 'data-testid': 'form-message' });

  const form = h(
    'form.run-form',
    { novalidate: true },
    field('Group name', group),
    field('Steps', steps, 'One shell command per line, run in order with sh -c.'),
    field('Image', image),
    h('div.field-row', null, field('CPUs', cpus), field('Memory', memory), field('PIDs', pids)),
    field('Timeout (s)', timeout),
    submit,
    message,
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const commands = steps.value
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    if (!group.value.trim()) return showMessage(message, 'Give the run a group name.', 'error');
    if (commands.length === 0) return showMessage(message, 'Add at least one step.', 'error');
    /** @type {Record<string, unknown>} */
    const config = { agent: 'shell', steps: commands };
    if (image.value.trim()) config.image = image.value.trim();
    if (cpus.value !== '') config.cpus = Number(cpus.value);
    if (memory.value.trim()) config.memory = memory.value.trim();
    if (pids.value !== '') config.pidsLimit = Number(pids.value);
    if (timeout.value !== '') config.timeoutMs = Math.round(Number(timeout.value) * 1000);
    const name = group.value.trim();
    const input = { group: { id: `dashboard-${Date.now().toString(36)}`, name }, config };

    submit.disabled = true;
    showMessage(message, 'Starting…', 'info');
    try {
      const data = await mutate(START_AGENT, { input });
      const { agentId, queue, run } = data.startAgent;
      store.upsertRun(run);
      if (queue.position > 0) {
        store.setPosition(agentId, queue.position);
        feed.followPosition(agentId);
      }
      showMessage(
        message,
        queue.position > 0 ? `Run ${shortId(agentId)} is waiting at #${queue.position}.` : `Run ${shortId(agentId)} started.`,
        'ok',
      );
    } catch (error) {
      showMessage(message, error.message, 'error');
    } finally {
      submit.disabled = false;
    }
  });

  replaceChildren(root, h('header.card-head', null, h('h2', null, 'Start a run')), form);
}
