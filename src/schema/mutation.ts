/**
 * The `Mutation` type.
 */
import { requireId } from '../resolvers/arguments.js';
import { cancelAgent, retryAgent, setMaxConcurrency, startAgent } from '../resolvers/mutations.js';
import type { BosunBuilder } from './builder.js';
import type { addStartAgentTypes } from './types/start-agent.js';

type StartAgentRefs = ReturnType<typeof addStartAgentTypes>;

export function addMutationType(builder: BosunBuilder, inputs: StartAgentRefs): void {
  builder.mutationType({
    fields: (t) => ({
      startAgent: t.field({
        type: 'StartAgentPayload',
        description: 'Validates the input, stores the run and puts it in line; replies at once.',
        args: { input: t.arg({ type: inputs.StartAgentInput, required: true }) },
        resolve: (_root, args, ctx) => {
          ctx.admitStart?.('startAgent');
          return startAgent(ctx.services, args.input);
        },
      }),
      retryAgent: t.field({
        type: 'StartAgentPayload',
        description: 'Starts a new run with the same input as a finished run, linked to it by `retryOf`.',
        args: { id: t.arg.id({ required: true }) },
        resolve: (_root, args, ctx) => {
          ctx.admitStart?.('retryAgent');
          return retryAgent(ctx.services, requireId('id', args.id));
        },
      }),
      cancelAgent: t.field({
        type: 'AgentRun',
        description: 'Cancels a waiting run at once, or stops a running one.',
        args: { id: t.arg.id({ required: true }) },
        resolve: (_root, args, ctx) => cancelAgent(ctx.services, requireId('id', args.id)),
      }),
      setMaxConcurrency: t.field({
        type: 'QueueStatus',
        description: 'Runs at once, 0 to 10000; 0 = unlimited.',
        args: { value: t.arg.int({ required: true }) },
        resolve: (_root, args, ctx) => setMaxConcurrency(ctx.services, args.value),
      }),
    }),
  });
}
