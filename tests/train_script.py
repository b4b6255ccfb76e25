"""Run (or resume) a small training job; used by the kill-and-resume test.  argv: OUT_DIR STEPS DELAY [resume]"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from tiny_lm import TinyLM, corpus_ids, stream  # noqa: E402

from lstm.optim import Adam, StepLR  # noqa: E402
from lstm.train import Trainer  # noqa: E402

out, steps, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
resume = len(sys.argv) > 4 and sys.argv[4] == "resume"
ids, vocab = corpus_ids(4000)
model = TinyLM(vocab, dropout=0.2, seed=3)
opt = Adam(model, lr=3e-3)
sched = StepLR(opt, step_size=7, gamma=0.8)
slow = (lambda tr, event, info: time.sleep(delay)) if delay else (lambda *a: None)
trainer = Trainer(model, opt, model.train_step, stream(ids[:3500]), steps=steps, schedule=sched, clip_norm=1.0,
                  evaluate=lambda: model.evaluate(ids[3500:]), eval_every=5, checkpoint_every=3, out_dir=out,
                  callbacks=[slow], progress=False)
trainer.fit(resume=resume)
np.savez(Path(out) / "final.npz", **model.state_dict())
