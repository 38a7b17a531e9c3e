import type { Context } from 'hono';
import type * as z from 'zod/mini';
import type { Caller } from '../broker/callers.js';
import type { AppEnv } from './app-env.js';
import type { HttpFunctionName, RouteId, RouteIdOf, ROUTES } from './route-table.js';

type Request<Id extends RouteId> = (typeof ROUTES)[Id] extends { request: infer R } ? R : Record<string, never>;
type Output<S> = S extends () => infer T ? (T extends z.ZodMiniType ? z.output<T> : never) : never;

/** A route's input, validated against the schemas of its row in the route table. */
export interface RouteInput<Id extends RouteId> {
  params: Request<Id> extends { params: infer P } ? Output<P> : Record<string, never>;
  query: Request<Id> extends { query: infer Q } ? Output<Q> : Record<string, never>;
  body: Request<Id> extends { body: { schema: infer B } } ? Output<B> : undefined;
}

export interface RouteContext<Id extends RouteId, D> {
  c: Context<AppEnv>;
  input: RouteInput<Id>;
  deps: D;
  /** The authenticated caller, already allowed the route's role on the route's tenant (`/v1` routes). */
  caller: Caller;
}

export type RouteHandler<Id extends RouteId, D> = (ctx: RouteContext<Id, D>) => Response | Promise<Response>;

/** The handlers of one Lambda function: exactly the routes the table gives to `fn`. */
export interface RouteGroup<F extends HttpFunctionName = HttpFunctionName, D = unknown> {
  fn: F;
  handlers: { [Id in RouteIdOf<F>]: RouteHandler<Id, D> };
}

/** Any function's group, as the app builders take them (each group is checked against the table when mounted). */
export interface AnyRouteGroup<D = never> {
  fn: HttpFunctionName;
  handlers: object;
  /** Phantom: the dependencies the handlers take. */
  readonly __deps?: (deps: D) => void;
}

export function defineRoutes<F extends HttpFunctionName, D>(fn: F, handlers: { [Id in RouteIdOf<F>]: RouteHandler<Id, D> }): RouteGroup<F, D> {
  return { fn, handlers };
}
