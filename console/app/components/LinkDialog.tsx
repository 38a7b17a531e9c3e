/**
 * Creates a single-use link for an account and shows it: the URL to copy, a QR code for a phone,
 * and how long it lives. A modal `<dialog>`: focus moves into it and Escape closes it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { renderSVG } from 'uqr';
import type { AdminApi, Link } from '../../../client/admin-api.js';
import { exact, relative } from '../format.js';
import { describeProblem, type Problem } from '../problem.js';
import type { ConsoleMode } from '../session.js';
import { ProblemNotice, useNow } from './common.js';

export interface LinkTarget {
  tenant: string;
  account: string;
}

export function LinkDialog({ api, mode, target, onClose }: { api: AdminApi; mode: ConsoleMode; target: LinkTarget; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [link, setLink] = useState<Link>();
  const [problem, setProblem] = useState<Problem>();
  const [copied, setCopied] = useState<'yes' | 'failed'>();
  const [attempt, setAttempt] = useState(0);
  const now = useNow(1000);

  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  useEffect(() => {
    let live = true;
    setProblem(undefined);
    api.createLink(target.tenant, target.account).then(
      (l) => live && setLink(l),
      (err: unknown) => live && setProblem(describeProblem(err, mode, 'create a link')),
    );
    return () => {
      live = false;
    };
  }, [attempt]);

  const copy = async () => {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link.link_url);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  const expires = link ? Date.parse(link.expires_at) : undefined;
  const expired = expires !== undefined && expires <= now;

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="link-title" onClose={onClose} data-testid="link-dialog">
      <div class="dialog-head">
        <h2 id="link-title">
          Link for <span class="account-id">{target.account}</span>
        </h2>
        <button type="button" class="button quiet small" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </div>
      {problem && <ProblemNotice problem={problem} onRetry={() => setAttempt((a) => a + 1)} />}
      {!link && !problem && <p class="muted">Creating a link…</p>}
      {link && (
        <div class="link-body">
          <div class="link-text">
            <label for="link-url">Link URL</label>
            <div class="row">
              <input id="link-url" readOnly value={link.link_url} onFocus={(e) => (e.target as HTMLInputElement).select()} data-testid="link-url" />
              <button type="button" class="button primary" onClick={copy}>
                Copy
              </button>
            </div>
            <p class="help" role="status">
              {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'The browser refused the clipboard: select the link and copy it by hand.' : ' '}
            </p>
            <p class={expired ? 'alert error compact' : 'muted'}>
              {expired ? 'This link has expired: create a new one.' : `Expires ${relative(expires!, now)} (${exact(expires!)}).`} It works once.
            </p>
            <p class="note">
              Hand it to the end user of <strong>{target.account}</strong> directly, inside your own signed-in session: whoever opens it first links <em>their</em> LongPort account
              to this account id, and a mail scanner that opens it uses it up.
            </p>
          </div>
          <figure class="qr">
            {/* uqr's SVG holds only rect and path elements with fill attributes: nothing the CSP would block, nothing from the page's input but the QR modules */}
            <div class="qr-code" role="img" aria-label="QR code of the link, for a phone" dangerouslySetInnerHTML={{ __html: renderSVG(link.link_url, { border: 2, ecc: 'M' }) }} data-testid="link-qr" />
            <figcaption class="muted">Scan with a phone</figcaption>
          </figure>
        </div>
      )}
    </dialog>
  );
}
