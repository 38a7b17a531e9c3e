import { setCookie } from 'hono/cookie';
import type { BrokerDeps } from '../../broker/deps.js';
import { LinkFlowError } from '../../broker/linking.js';
import { confirmLink } from '../../broker/linking-confirm.js';
import { createLink } from '../../broker/linking-create.js';
import { LINK_ID_PATTERN } from '../../broker/linking-secrets.js';
import { startAuthorization } from '../../broker/linking-start.js';
import { BrokerError } from '../../errors.js';
import { bindingCookie, browserAnswer } from '../browser-flow.js';
import { defineRoutes } from '../route-group.js';

/** Creating links, starting their flows, confirming linkings: the `authorize` Lambda. */
export const linkRoutes = defineRoutes<'authorize', BrokerDeps>('authorize', {
  createLink: async ({ c, input, deps, caller }) =>
    c.json(await createLink(deps, caller, input.params.tenant, input.params.account, input.body as { return_to?: string }), 201),

  confirmLink: async ({ c, input, deps, caller }) => c.json(await confirmLink(deps, caller, input.params.tenant, input.params.account, input.body), 200),

  authorize: ({ c, deps }) =>
    browserAnswer(c, deps, async () => {
      // the raw query: a repeated `link` is refused, not collapsed
      const links = new URL(c.req.url).searchParams.getAll('link');
      if (links.length !== 1 || !LINK_ID_PATTERN.test(links[0]!)) throw new LinkFlowError(new BrokerError('invalid_link', 400, 'This link is malformed. Ask for a new link.'));
      const { location, binding } = await startAuthorization(deps, links[0]!);
      const cookie = bindingCookie(deps, binding.name);
      setCookie(c, cookie.name, binding.value, {
        httpOnly: true,
        // Lax: the provider's top-level redirect back (a cross-site GET navigation) still carries it
        sameSite: 'Lax',
        secure: cookie.secure,
        path: cookie.path,
        maxAge: binding.maxAgeS,
      });
      return c.redirect(location, 302);
    }),
});
