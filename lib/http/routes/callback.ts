import { getCookie } from 'hono/cookie';
import type { BrokerDeps } from '../../broker/deps.js';
import { LinkFlowError } from '../../broker/linking.js';
import { completeLink } from '../../broker/linking-complete.js';
import { bindingCookieName } from '../../broker/linking-secrets.js';
import { BrokerError } from '../../errors.js';
import { bindingCookie, browserAnswer, clearBinding, withParams } from '../browser-flow.js';
import { page } from '../pages.js';
import { defineRoutes } from '../route-group.js';

/** The provider's redirect back: the `callback` Lambda. */
export const callbackRoutes = defineRoutes<'callback', BrokerDeps>('callback', {
  callback: ({ c, deps }) => {
    const query = new URL(c.req.url).searchParams;
    const state = query.get('state');
    return browserAnswer(c, deps, async () => {
      // RFC 6749 §4.1.2: unrecognised parameters are ignored; a repeated one is refused (which value would count?)
      for (const key of new Set(query.keys())) {
        if (query.getAll(key).length > 1) throw new LinkFlowError(new BrokerError('invalid_request', 400, 'The sign-in answer repeats a parameter. Start again from your link.'));
      }
      const done = await completeLink(deps, query, (s) => getCookie(c, bindingCookie(deps, bindingCookieName(s)).name)).catch((err: unknown) => {
        // the flow cookie goes with the answer, unless nothing was consumed and the flow lives on
        if (!(err instanceof LinkFlowError && err.options.flowAlive)) clearBinding(c, deps, state);
        throw err;
      });
      clearBinding(c, deps, state);
      if (done.outcome === 'confirm') return c.redirect(withParams(done.returnTo, { status: 'confirm', account: done.account, link_session: done.linkSession }), 303);
      if (done.returnTo) return c.redirect(withParams(done.returnTo, { status: 'linked', account: done.account }), 303);
      return c.html(page('Account linked', `Your LongPort account is now linked (${done.account}). You can close this window.`, 'ok'), 200);
    });
  },
});
