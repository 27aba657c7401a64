"""One rank of the 2-process DDP smoke test (run by tests/training/test_ddp.py through torchrun).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/training/ddp_worker.py --out DIR

Every rank trains the same tiny regression model on its shard of a synthetic dataset with the
generic :class:`~semcorr_core.training.Trainer` (gloo, CPU), then writes ``DIR/rank{R}.pt`` with
its final parameters, its history, the sample indices it saw, a resumed run's results and a few
collective checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from semcorr_core.training import DistributedContext, Trainer


class IndexedRegression(Dataset):
    """``y = x @ W + 0.5``; items carry their index so the test can check the sharding."""

    def __init__(self, n: int = 48) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.randn(4, 2, generator=g) + 0.5

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i], i


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    seen: list[int] = []  # sample indices in the order this rank trained on them

    def loss_fn(m: nn.Module, batch):
        x, y, idx = batch
        seen.extend(int(i) for i in idx)
        pred = m(x)
        return nn.functional.mse_loss(pred, y), {"mae": (pred - y).abs().mean()}

    with DistributedContext.from_env(device="cpu") as ctx:
        assert ctx.is_distributed and ctx.backend == "gloo", (ctx.world_size, ctx.backend)
        # every rank builds the model with a *different* init: DDP must broadcast rank 0's weights
        torch.manual_seed(100 + ctx.rank)
        model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
        cfg = dict(
            epochs=args.epochs, batch_size=4, lr=2e-2, seed=3, device="cpu", out_dir=str(args.out / "run"),
            log_every=1, checkpoint_every=2, progress=False, num_workers=0,
        )
        history = Trainer(model, loss_fn, IndexedRegression(), cfg, context=ctx).fit()

        # resume on both ranks from the epoch-2 checkpoint: must continue exactly as above
        if ctx.is_main:
            history.final_checkpoint.unlink()
        ctx.barrier()
        torch.manual_seed(999)
        model2 = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
        resumed = Trainer(model2, loss_fn, IndexedRegression(), cfg, context=ctx).fit(resume=True)

        mean = ctx.all_reduce_mean(torch.tensor([float(ctx.rank), 10.0 * ctx.rank]))
        gathered = ctx.broadcast_object({"from": ctx.rank})
        ctx.barrier()
        torch.save(
            {
                "rank": ctx.rank,
                "world_size": ctx.world_size,
                "params": [p.detach().clone() for p in model.parameters()],
                "losses": history.losses,
                "epochs": history.epochs,
                "steps": history.steps,
                "seen": seen,
                "resumed_losses": resumed.losses,
                "resumed_from": str(resumed.resumed_from),
                "resumed_params": [p.detach().clone() for p in model2.parameters()],
                "all_reduce_mean": mean,
                "broadcast": gathered,
                "final_checkpoint": str(history.final_checkpoint) if history.final_checkpoint else None,
            },
            args.out / f"rank{ctx.rank}.pt",
        )
    # the context tore the process group down on exit
    assert not dist.is_initialized()


if __name__ == "__main__":
    main()
