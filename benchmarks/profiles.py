"""Benchmark sizes: `quick` (make bench: 2 CPU cores, under 15 min), `full` (a GPU, both built-in models) and `smoke`
(a minute, to check the scripts run; its ratios mean little).

teacher: n_single / n_multi prompts for G=1 / G, `demos` demonstrations per prompt, `batch_size` prompts per call,
the reference timed on `reference_prompts` prompts. scaling: n_sweep maps G to the N values swept. A section's
`repeats` overrides the profile's (training steps are short and noisy: more repeats)."""

PROFILES = {
    "quick": {
        "models": ["smollm2-135m"], "device": "cpu", "repeats": 3,
        "teacher": {"n_single": 4, "n_multi": 16, "G": 64, "demos": 3, "batch_size": 16, "reference_prompts": 1,
                    "teacher_batch_only": False},
        "store": {},
        "scaling": {"n_sweep": {1: [2, 4, 8, 16]}, "g_sweep": [1, 8, 32], "g_sweep_N": 2, "demos": 3,
                    "batch_size": 4, "scaling_repeats": 2},
        "evaluation": {"eval_batch": 1, "eval_prompt_tokens": 512, "gen_prompts": 16, "gen_batch": 16,
                       "gen_batch1_prompts": 2, "gen_tokens": 32,
                       "adapter_eval_rows": 16, "adapter_eval_batch": 8},
        "training": {"train_batch": 4, "train_G": 16, "demos": 3, "repeats": 5, "trainer_steps": 16},
    },
    "qwen": {  # the quick profile's sizes on qwen2.5-coder-0.5b (`--profile qwen --merge` after `make bench`)
        "models": ["qwen2.5-coder-0.5b"], "device": "cpu", "repeats": 3,
        "teacher": {"n_single": 4, "n_multi": 16, "G": 64, "demos": 3, "batch_size": 16, "reference_prompts": 1,
                    "teacher_batch_only": False},
        "store": {},
        "scaling": {"n_sweep": {1: [2, 4, 8]}, "g_sweep": [1, 8], "g_sweep_N": 2, "demos": 3,
                    "batch_size": 4, "scaling_repeats": 1},
        "evaluation": {"eval_batch": 1, "eval_prompt_tokens": 512, "gen_prompts": 16, "gen_batch": 16,
                       "gen_batch1_prompts": 1, "gen_tokens": 32, "adapter_eval_rows": 16, "adapter_eval_batch": 8},
        "training": {"train_batch": 4, "train_G": 16, "demos": 3, "repeats": 3, "trainer_steps": 12},
    },
    "full": {
        "models": ["smollm2-135m", "qwen2.5-coder-0.5b"], "device": "cuda", "repeats": 3,
        "teacher": {"n_single": 64, "n_multi": 64, "G": 64, "demos": 15, "batch_size": 32, "reference_prompts": 4,
                    "teacher_batch_only": True},
        "store": {},
        "scaling": {"n_sweep": {1: [2, 4, 8, 16, 32, 64, 128, 256], 64: [2, 8, 32, 128]}, "g_sweep": [1, 8, 16, 32, 64, 128],
                    "g_sweep_N": 32, "demos": 15, "batch_size": 32, "scaling_repeats": 3},
        "evaluation": {"eval_batch": 16, "eval_prompt_tokens": 512, "gen_prompts": 32, "gen_batch": 16,
                       "gen_batch1_prompts": 2, "gen_tokens": 128,
                       "adapter_eval_rows": 64, "adapter_eval_batch": 16},
        "training": {"train_batch": 4, "train_G": 64, "demos": 15, "repeats": 20, "trainer_steps": 20},
    },
    "smoke": {
        "models": ["smollm2-135m"], "device": "cpu", "repeats": 1,
        "teacher": {"n_single": 2, "n_multi": 2, "G": 4, "demos": 1, "batch_size": 2, "reference_prompts": 1,
                    "teacher_batch_only": True},
        "store": {},
        "scaling": {"n_sweep": {1: [2, 4], 4: [2, 4]}, "g_sweep": [1, 4], "g_sweep_N": 2, "demos": 1, "batch_size": 2,
                    "scaling_repeats": 1},
        "evaluation": {"eval_batch": 1, "eval_prompt_tokens": 64, "gen_prompts": 4, "gen_batch": 4,
                       "gen_batch1_prompts": 1, "gen_tokens": 4,
                       "adapter_eval_rows": 4, "adapter_eval_batch": 2},
        "training": {"train_batch": 2, "train_G": 4, "demos": 1, "trainer_steps": 2},
    },
}
