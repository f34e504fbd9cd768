import { startSimulatedProvider } from "./simulated-provider.js";
const s = await startSimulatedProvider({ latencyMs: 20, requestsPerWindow: 3, windowMs: 3000 });
console.log(s.url);
setTimeout(() => s.close(), 15000);
