"""Where teacher_batch's single-token (G=1) time goes beyond the bare forward (a GPU follow-up, not run by run.py).

    python benchmarks/gpu/teacher_g1_breakdown.py DEVICE N_PROMPTS REPEATS [MODEL ...]   # inputs: export_inputs.py
"""
import statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, 'benchmarks')
import common
common.import_ia2()
from ia2.activations import TeacherConfig, left_pad, response_positions, teacher_batch
from ia2.hooks import capture_attention_outputs, find_attention_blocks

DEV, N, REPS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
MODELS = sys.argv[4:] or ['smollm2-135m', 'qwen2.5-coder-0.5b']
sync = torch.cuda.synchronize if DEV == 'cuda' else (lambda: None)

def med(fn, n=None):
    n = n or REPS
    fn(); sync()
    runs = []
    for _ in range(n):
        sync(); t = time.perf_counter(); fn(); sync(); runs.append(time.perf_counter() - t)
    return round(1000 * statistics.median(runs), 2)

for name in MODELS:
    lm = common.load_bench_model(name, DEV, torch.bfloat16 if DEV == 'cuda' else torch.float32, True, 'benchmarks/.cache/models')
    model, tok = lm.model, lm.tokenizer
    prompts = common.PromptSet(common.sst2_examples(Path('benchmarks/.cache/data'), 200)).icl(N, 15)
    ids = [tok(p)['input_ids'] for p in prompts]
    batch = {k: v.to(DEV) for k, v in left_pad(ids, tok.pad_token_id).items()}
    W = batch['input_ids'].shape[1]
    positions = response_positions([1] * N, W + 1)[0].to(DEV)
    def hooked():
        with capture_attention_outputs(model, positions) as c:
            out = model(**batch, logits_to_keep=1).logits
        return c.stack(), out
    acts, logits = hooked()
    probs = logits.float().softmax(-1)
    def post(p=probs):
        return [(acts[r, :, :1].to(torch.bfloat16).cpu().contiguous(), p[r, :1].cpu().contiguous()) for r in range(N)]
    topk = probs.topk(10, dim=-1)
    with torch.no_grad():
        r = {'tokenize': med(lambda: [tok(p)['input_ids'] for p in prompts]),
             'left_pad_to_gpu': med(lambda: {k: v.to(DEV) for k, v in left_pad(ids, tok.pad_token_id).items()}),
             'find_attention_blocks': med(lambda: find_attention_blocks(model)),
             'bare_forward': med(lambda: model(**batch, logits_to_keep=1).logits),
             'bare_forward_no_cache': med(lambda: model(**batch, logits_to_keep=1, use_cache=False).logits),
             'hooked_forward': med(hooked),
             'per_row_cpu_copies_full_vocab': med(post),
             'per_row_cpu_copies_top10': med(lambda: post(topk.values)),
             'one_batched_cpu_copy_full_vocab': med(lambda: (acts.cpu(), probs.cpu())),
             'teacher_batch_top_k_None': med(lambda: teacher_batch(model, tok, prompts, TeacherConfig(max_new_tokens=1, top_k=None, batch_size=N))),
             'teacher_batch_top_k_10': med(lambda: teacher_batch(model, tok, prompts, TeacherConfig(max_new_tokens=1, top_k=10, batch_size=N)))}
    print(name, f'batch {N}, width', W, {k: f'{v} ms' for k, v in r.items()}, flush=True)
    del lm, model
    if DEV == 'cuda': torch.cuda.empty_cache()
