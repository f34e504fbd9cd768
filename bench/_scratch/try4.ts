import { benchAdaptive } from "../adaptive.js";
import { renderTable } from "../lib.js";
const r = await benchAdaptive();
console.log(renderTable(r.rows)); console.log(JSON.stringify(r.data, null, 1));
