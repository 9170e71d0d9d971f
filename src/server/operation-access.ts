/**
 * What an authenticated caller may run: a read token (BOSUN_READ_TOKEN) runs queries and
 * subscriptions, not mutations. Checked at execution, over HTTP and graphql-ws alike, from the
 * caller the context carries; the refusal is a FORBIDDEN error (HTTP 403) and nothing executes.
 */
import { OperationTypeNode, getOperationAST, type ExecutionArgs } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { BosunError } from '../errors.js';
import type { BosunContext } from '../api/context.js';
import { toGraphQLError } from './mask-error.js';

/** The envelop plugin. */
export function useOperationAccess(): Plugin<BosunContext> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      // Envelop types these `any`, to fit every graphql version; yoga runs on graphql-js 16.
      const { document, operationName } = args as Pick<ExecutionArgs, 'document' | 'operationName'>;
      const operation = getOperationAST(document, operationName);
      if (operation?.operation !== OperationTypeNode.MUTATION) return;
      // A context without a caller is refused too: the server always sets one.
      if ((args.contextValue as Partial<BosunContext>).caller?.role === 'admin') return;
      const refusal = new BosunError('FORBIDDEN', 'This token may run queries and subscriptions only; mutations need BOSUN_API_TOKEN');
      setResultAndStopExecution({ errors: [toGraphQLError(refusal, undefined, { status: 403 })] });
    },
  };
}
