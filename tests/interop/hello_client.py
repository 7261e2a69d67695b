"""Python `websockets` client against the hello example: the seed's behaviour
as CheeseAPI's own users would see it. Usage: hello_client.py PORT"""
import asyncio
import sys

import websockets


async def main(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=5) as ws:
        greeting = await asyncio.wait_for(ws.recv(), 5)
        assert greeting == "这里是CheeseAPI！", greeting
        await ws.send("hello from python")
        echoed = await asyncio.wait_for(ws.recv(), 5)
        assert echoed == "hello from python", echoed
        await ws.send(b"\x00\xffbin")
        echoed = await asyncio.wait_for(ws.recv(), 5)
        assert echoed == b"\x00\xffbin", echoed
        await ws.send("over")
        try:
            extra = await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError(f"expected a close, got {extra!r}")
        except websockets.ConnectionClosedOK as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000, closed
    print("python websockets", websockets.__version__, "interop ok")


asyncio.run(main(int(sys.argv[1])))
