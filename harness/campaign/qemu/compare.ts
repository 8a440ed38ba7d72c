// The same QEMU campaign, both clients (issue 16, item 6): two runs record their own update, so a
// log position in one means nothing in the other; what is the same is the kind of cut — the step of
// the update it falls in (boot, install, reboot, commit, final boot) and the crash state made there
// (flush boundary, one write lost, a seeded subset, a torn write). Per (step, kind) this sets the
// outcomes of one run beside the other's and names every difference: a failure on one side only,
// an outcome one client reached there and the other never did, or a cut kind only one run booted.
import type { ImageVerdict } from './check-image.js';

/** What the comparison needs of an image (campaign.json's `images` rows have it). */
export interface ComparedImage {
  id: string;
  step: string;
  variant: number;
  label: string;
  verdict: Pick<ImageVerdict, 'ok'> & { outcome?: 'new' | 'old'; retried?: boolean; stage?: string; reason?: string };
}

export interface ComparedRun {
  client: string;
  images: ComparedImage[];
}

export type Outcome = 'new' | 'old, retried' | 'old' | 'failed';

export interface CompareRow {
  step: string;
  kind: string;
  /** Per run (in the order given): images per outcome, and the failed ones with why. */
  sides: { client: string; images: number; outcomes: Partial<Record<Outcome, number>>; failed: string[]; ended: { new: number; old: number } }[];
  /** Empty when both runs agree on this kind of cut. */
  differences: string[];
}

export const kindOf = (x: Pick<ComparedImage, 'variant' | 'label'>): string =>
  x.variant === 0 ? 'flush boundary' : x.label.includes('torn') ? 'torn write' : x.label.includes('but entry') ? 'one write lost' : 'seeded subset';

export const outcomeOf = (v: ComparedImage['verdict']): Outcome => (!v.ok ? 'failed' : v.outcome === 'new' ? 'new' : v.retried ? 'old, retried' : 'old');

const STEP_ORDER = ['boot', 'install', 'reboot', 'commit', 'final-boot'];
const KIND_ORDER = ['flush boundary', 'one write lost', 'seeded subset', 'torn write'];
const rank = (xs: string[], x: string) => (xs.includes(x) ? xs.indexOf(x) : xs.length);

export function compareRuns(a: ComparedRun, b: ComparedRun): CompareRow[] {
  const keys = new Map<string, { step: string; kind: string }>();
  for (const x of [...a.images, ...b.images]) keys.set(`${x.step}\0${kindOf(x)}`, { step: x.step, kind: kindOf(x) });
  const rows: CompareRow[] = [];
  for (const { step, kind } of keys.values()) {
    const sides = [a, b].map((r) => {
      const xs = r.images.filter((x) => x.step === step && kindOf(x) === kind);
      const outcomes: Partial<Record<Outcome, number>> = {};
      for (const x of xs) outcomes[outcomeOf(x.verdict)] = (outcomes[outcomeOf(x.verdict)] ?? 0) + 1;
      const failed = xs.filter((x) => !x.verdict.ok).map((x) => `${x.id}: ${x.verdict.stage ?? '?'}: ${x.verdict.reason ?? '?'}`);
      // The version each image ended on, failed ones included where the check got that far.
      const ended = { new: xs.filter((x) => x.verdict.outcome === 'new').length, old: xs.filter((x) => x.verdict.outcome === 'old').length };
      return { client: r.client, images: xs.length, outcomes, failed, ended };
    });
    const differences: string[] = [];
    const [sa, sb] = sides as [CompareRow['sides'][number], CompareRow['sides'][number]];
    if (sa.images === 0 || sb.images === 0) {
      const [has, not] = sa.images ? [sa, sb] : [sb, sa];
      differences.push(`only ${has.client} booted this kind of cut (${has.images}); ${not.client}'s selection had none`);
    } else {
      for (const [x, y] of [[sa, sb], [sb, sa]] as const) {
        if (x.failed.length && !y.failed.length) differences.push(`${x.client} failed ${x.failed.length} of ${x.images}, ${y.client} none of ${y.images}`);
        for (const o of ['new', 'old'] as const) {
          if (x.ended[o] && !y.ended[o] && y.ended.new + y.ended.old > 0) differences.push(`${x.client} ended on the ${o} version here (${x.ended[o]} of ${x.images}), ${y.client} never (${y.images} image(s))`);
        }
      }
      if (sa.failed.length && sb.failed.length) differences.push(`both failed here: ${sa.client} ${sa.failed.length} of ${sa.images}, ${sb.client} ${sb.failed.length} of ${sb.images}`);
    }
    rows.push({ step, kind, sides, differences });
  }
  return rows.sort((x, y) => rank(STEP_ORDER, x.step) - rank(STEP_ORDER, y.step) || rank(KIND_ORDER, x.kind) - rank(KIND_ORDER, y.kind));
}

/** The text of one outcome count list, e.g. `2 new, 1 old (retried)`. */
export function outcomesText(o: Partial<Record<Outcome, number>>): string {
  const order: Outcome[] = ['new', 'old, retried', 'old', 'failed'];
  const parts = order.filter((k) => o[k]).map((k) => `${o[k]} ${k}`);
  return parts.length ? parts.join(', ') : 'none';
}
