"""`python -m wechat_sim --host 127.0.0.1 --port 8700`: run the simulator in the foreground."""

from __future__ import annotations

import argparse
import logging

from wechat_sim.config import SimConfig
from wechat_sim.server import SimServer
from wechat_sim.state import SimState

logger = logging.getLogger("wechat_sim")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m wechat_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    config = SimConfig.from_env()
    server = SimServer((args.host, args.port), SimState(config=config))
    logger.info("WeChat simulator on http://%s:%s/ (appid %s)", args.host, args.port, config.appid)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopped")
    finally:
        server.state.notifier.stop()
        server.server_close()


if __name__ == "__main__":
    main()
