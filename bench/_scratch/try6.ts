import { benchTokens } from "../tokens.js";
import { renderTable } from "../lib.js";
const r = await benchTokens();
console.log(renderTable(r.rows)); console.log(JSON.stringify(r.data, null, 1));
