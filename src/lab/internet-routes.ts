/**
 * The forms of "the whole internet" the lab's emulated GSA endpoint can announce with
 * `lab up --profile internet --internet-routes FORM` (Microsoft does not document which form GSA
 * uses: docs/gsa-reference.md §4.2).
 */
export type InternetRoutesForm = 'default' | 'split' | 'many';
export const INTERNET_ROUTE_FORMS: readonly InternetRoutesForm[] = ['default', 'split', 'many'];

/**
 * GSA's possible forms of "the whole internet": 0/0, its halves, or 3,552 /12s — every unicast
 * /8 (1–223 except 127; BIRD ignores "bogus" 0/8, 127/8 and class D/E prefixes) in 16 pieces.
 */
export function internetRoutes(form: InternetRoutesForm): string[] {
  if (form === 'default') return ['0.0.0.0/0'];
  if (form === 'split') return ['0.0.0.0/1', '128.0.0.0/1'];
  const out: string[] = [];
  for (let a = 1; a < 224; a++) if (a !== 127) for (let b = 0; b < 256; b += 16) out.push(`${a}.${b}.0.0/12`);
  return out;
}
