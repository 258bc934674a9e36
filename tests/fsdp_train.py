"""Entry script for the FSDP tests: full fine-tuning of a tiny Llama folder (under torchrun or not).

    fsdp_train.py MODEL_DIR OUT STEPS [fsdp] [resume]
"""
import sys

import zoo

model, out, steps, flags = sys.argv[1], sys.argv[2], int(sys.argv[3]), set(sys.argv[4:])
if "resume" in flags:
    zoo.train(resume=out, steps=steps, device="cpu", quiet=True)
else:
    zoo.train("smollm2-lora-shakespeare", steps=steps, out=out, device="cpu", quiet=True, overrides={
        "model.init_from": model, "model.finetune": "full", "model.block_size": 32, "model.max_new_tokens": 4, "data.batch_size": 4,
        "train.precision": "fp32", "train.schedule": "constant", "train.warmup_steps": 0, "train.lr": 1e-3, "train.log_every": 1,
        "train.checkpoint_every": 2, "train.keep_checkpoints": 5, "train.parallel": "fsdp" if "fsdp" in flags else "ddp",
    })
