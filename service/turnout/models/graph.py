"""A small builder for the ONNX graphs the recipes write by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt
    from onnx import NodeProto, TensorProto


class Graph:
    """Collects nodes and initializers; each helper returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []

    def const(self, name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        from onnx import numpy_helper  # noqa: PLC0415 - build time only

        array: npt.NDArray[Any] = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(
        self,
        kind: str,
        inputs: list[str],
        output: str | None = None,
        *,
        domain: str = "",
        outputs: int = 1,
        **attrs: Any,
    ) -> str:
        """Add a node; its first output's name (a node of several outputs names the rest ``:i``)."""
        from onnx import helper  # noqa: PLC0415

        name = output or f"{kind.lower()}_{len(self.nodes)}"
        names = [name] + [f"{name}:{i}" for i in range(1, outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, domain=domain or None, **attrs))
        return name

    def dense(self, x: str, weight: str, bias: str) -> str:
        return self.op("Add", [self.op("MatMul", [x, weight]), bias])

    def save(
        self,
        path: Path,
        *,
        name: str,
        dim: int,
        opsets: dict[str, int],
        output: str = "embedding",
    ) -> None:
        """Write it: inputs ``input_ids`` and ``attention_mask``, ``output`` of width ``dim``.

        ``embedding`` is ``(batch, dim)``; another output is per token, ``(batch, tokens, dim)``.
        """
        import onnx  # noqa: PLC0415
        from onnx import TensorProto, helper  # noqa: PLC0415

        shape = ["batch", "tokens"]
        ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, shape)
        mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, shape)
        dims: list[str | int] = (
            ["batch", dim] if output == "embedding" else ["batch", "tokens", dim]
        )
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, dims)
        graph = helper.make_graph(self.nodes, name, [ids, mask], [out], self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(domain, v) for domain, v in opsets.items()],
            producer_name="turnout",
        )
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=False)
        onnx.save(model, str(path))
