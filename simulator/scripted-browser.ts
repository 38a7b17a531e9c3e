/**
 * A scripted browser for flows that do not need a real one: it keeps cookies per site, follows the
 * broker's redirect to the provider, submits the provider's self-submitting login form as a browser
 * would, and comes back through the callback. (The real Chromium test proves the cookie rules.)
 */
export type Send = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<Response>;

export class ScriptedBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  constructor(private readonly sendTo: (url: URL) => Send) {}

  async open(url: string, init: { method?: string; body?: string; contentType?: string } = {}): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    if (init.contentType) headers['content-type'] = init.contentType;
    const res = await this.sendTo(target)(target.href, { method: init.method ?? 'GET', headers, ...(init.body ? { body: init.body } : {}) });
    this.remember(target, res);
    return res;
  }

  /** Follows a link URL through the provider's login back to the broker's callback; answers the callback's response. */
  /** Follows a link URL through the provider's login back to the broker's callback; answers the callback's response. */
  async completeLink(linkUrl: string): Promise<{ callback: Response; callbackUrl: string }> {
    const callbackUrl = await this.reachCallback(linkUrl);
    return { callback: await this.open(callbackUrl), callbackUrl };
  }

  /** Opens a link URL and logs in at the provider; answers where the provider sends the browser back, without going there. */
  async reachCallback(linkUrl: string): Promise<string> {
    const authorize = await this.open(linkUrl);
    if (authorize.status !== 302) throw new Error(`authorize answered ${authorize.status}: ${await authorize.text()}`);
    const providerUrl = authorize.headers.get('location')!;
    const loginPage = await this.open(providerUrl);
    const html = await loginPage.text();
    const form = /<form method="POST" action="([^"]+)">/i.exec(html);
    if (!form) {
      // the provider refused before login (it redirected straight back with an error)
      const back = loginPage.headers.get('location');
      if (!back) throw new Error(`no login form: ${loginPage.status} ${html.slice(0, 200)}`);
      return back;
    }
    const fields = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, k, v]) => [k!, decode(v!)]);
    const submit = await this.open(decode(form[1]!), { method: 'POST', body: new URLSearchParams(fields).toString(), contentType: 'application/x-www-form-urlencoded' });
    const callbackUrl = submit.headers.get('location');
    if (!callbackUrl) throw new Error(`login answered ${submit.status} without a redirect`);
    return callbackUrl;
  }

  private cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.host);
    return cookies ? [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  private remember(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')).trim(), pair!.slice(pair!.indexOf('=') + 1).trim()];
      const cookies = this.jar.get(url.host) ?? new Map<string, string>();
      const expired = attrs.some((a) => /max-age=0/i.test(a.trim()) || /expires=Thu, 01 Jan 1970/i.test(a.trim()));
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
      this.jar.set(url.host, cookies);
    }
  }

  forgetCookies(): void {
    this.jar.clear();
  }
}

const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
