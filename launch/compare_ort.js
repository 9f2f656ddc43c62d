// Times an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU execution
// provider, all graph optimisations), best of N runs after one warm-up; prints
// one JSON line. Used by launch/compare_ort.sh.
//   ORT_DIMS='[batch,seq,d]' NODE_PATH=.../node_modules node launch/compare_ort.js MODEL.onnx THREADS ITERS
const ort = require("onnxruntime-node");

async function main() {
    const [model, threads, iters] = [process.argv[2], +process.argv[3], +process.argv[4]];
    const sess = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all",
        executionMode: "sequential",
    });
    const input = sess.inputNames[0];
    const dims = JSON.parse(process.env.ORT_DIMS); // the exported (fixed) input shape, [batch, seq, d_model]
    const n = dims.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) * 0.5;
    const feeds = { [input]: new ort.Tensor("float32", x, dims) };
    await sess.run(feeds); // warm-up
    let best = Infinity;
    for (let i = 0; i < iters; i++) {
        const t = process.hrtime.bigint();
        await sess.run(feeds);
        const s = Number(process.hrtime.bigint() - t) / 1e9;
        if (s < best) best = s;
    }
    const tokens = dims[0] * dims[1];
    console.log(JSON.stringify({ ort_version: require("onnxruntime-node/package.json").version, seconds: best,
                                 tokens_per_s: tokens / best }));
}
main().catch((e) => { console.error(e); process.exit(1); });
