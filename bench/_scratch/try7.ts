import { benchMicroBatch } from "../microbatch.js";
import { renderTable } from "../lib.js";
const r = await benchMicroBatch();
console.log(renderTable(r.rows)); console.log(JSON.stringify(r.data));
