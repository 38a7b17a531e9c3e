import { metaRoutes } from '../app.js';
import type { RouteGroup } from '../router.js';
import { accountRoutes } from './accounts.js';
import { linkRoutes } from './links.js';
import { oauthRoutes } from './oauth.js';
import { tenantRoutes } from './tenants.js';
import { refreshRoutes, tokenRoutes } from './token.js';

/** Every route group of the API, in the order the local server mounts them. */
export const apiGroups: RouteGroup[] = [tenantRoutes, linkRoutes, oauthRoutes, tokenRoutes, refreshRoutes, accountRoutes];
export const allGroups: RouteGroup[] = [...apiGroups, metaRoutes(apiGroups)];
