"""Forecast evaluation: accuracy metrics, naive baselines, and rolling-origin backtests."""

from .backtest import BacktestResult, backtest, rolling_origins
from .baselines import BASELINES, drift, naive, seasonal_naive
from .metrics import coverage, mae, mape, mase, metrics_table, rmse, smape

__all__ = ["mae", "rmse", "mape", "smape", "mase", "coverage", "metrics_table", "naive", "seasonal_naive",
           "drift", "BASELINES", "backtest", "rolling_origins", "BacktestResult"]
