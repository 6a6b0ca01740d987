"""A local WeChat: mini-program and pay endpoints speaking WeChat's wire protocol, plus /_sim/.

`start_simulator()` runs it in a daemon thread (tests, embedded mode); `python -m wechat_sim` runs
it in the foreground. Unmodified wechatpy talks to it once its base URLs point at `base_url`.
"""

from __future__ import annotations

import threading
from types import TracebackType

from wechat_sim.config import SimConfig
from wechat_sim.server import SimServer
from wechat_sim.state import SimState

__all__ = ["RunningSimulator", "SimConfig", "SimState", "start_simulator"]


class RunningSimulator:
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.state: SimState = server.state
        host, port = server.server_address[:2]
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - comparison only
        self.base_url = f"http://{host}:{port}/"
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"wechat-sim-{port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.state.notifier.stop()  # pending notifications are cancelled, the thread ends
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    host: str = "127.0.0.1", port: int = 0, config: SimConfig | None = None
) -> RunningSimulator:
    """Serve on (host, port) in a daemon thread; port 0 picks a free one (see `.base_url`)."""
    state = SimState(config=config or SimConfig.from_env())
    return RunningSimulator(SimServer((host, port), state))
