import { getCookie } from 'hono/cookie';
import type { BrokerDeps } from '../../broker/deps.js';
import { bindingCookieName, completeLink, LinkFlowError } from '../../broker/linking.js';
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
      // from here the state is looked at: its cookie goes with the answer (cleared before the answer is built)
      clearBinding(c, deps, state);
      const linked = await completeLink(deps, query, (s) => getCookie(c, bindingCookie(deps, bindingCookieName(s)).name));
      if (linked.returnTo) return c.redirect(withParams(linked.returnTo, { status: 'linked', account: linked.account }), 303);
      return c.html(page('Account linked', `Your LongPort account is now linked (${linked.account}). You can close this window.`, 'ok'), 200);
    });
  },
});
