import { accountRoutes } from './accounts.js';
import { callbackRoutes } from './callback.js';
import { linkRoutes } from './links.js';
import { metaRoutes } from './meta.js';
import { tenantRoutes } from './tenants.js';
import { refreshRoutes, tokenRoutes } from './tokens.js';

/** Every route group, one per Lambda function: the local server mounts them all. */
export const ALL_GROUPS = [tenantRoutes, linkRoutes, callbackRoutes, tokenRoutes, refreshRoutes, accountRoutes, metaRoutes] as const;
