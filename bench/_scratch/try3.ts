import { benchCompliance, COMPLIANCE } from "../compliance.js";
import { renderTable } from "../lib.js";
const [w, m, n] = process.argv.slice(2).map(Number);
const r = await benchCompliance({ ...COMPLIANCE, windowMs: w ?? COMPLIANCE.windowMs, marginMs: m ?? COMPLIANCE.marginMs, items: n ?? COMPLIANCE.items });
console.log(renderTable(r.rows));
