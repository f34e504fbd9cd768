import { connect } from "node:net";
const s = connect({ host: "127.0.0.1", port: 1 }); s.once("error", (e) => console.log("error as expected:", e.message)); s.once("connect", () => console.log("connected?!"));
