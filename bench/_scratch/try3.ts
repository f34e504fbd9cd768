import { benchCompliance, COMPLIANCE } from "../compliance.ts";
import { renderTable } from "../lib.ts";
for (let i = 0; i < 3; i++) { const r = await benchCompliance({ ...COMPLIANCE, marginMs: Number(process.argv[2] ?? 0) }); console.log(renderTable(r.rows)); console.log(JSON.stringify(r.data.serverStats)); }
