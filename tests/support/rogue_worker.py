"""A cluster node that answers wrongly, for the tests of what the driver accepts: run by a real Ray actor in
place of `ClusterWorker` (`RayExecutor.worker_class`)."""

from __future__ import annotations

from facesearch.pipeline.cluster_worker import ClusterWorker, Task
from facesearch.pipeline.worker import ImageOutcome


class RogueWorker(ClusterWorker):
    """Analyses honestly, then adds a result for a file it was not sent, and names its thumbnails to escape
    the thumbnails folder."""

    def analyse(self, tasks: list[Task]) -> list[ImageOutcome]:
        outcomes = super().analyse(tasks)
        for outcome in outcomes:
            for face in outcome.faces:
                face.thumbnail = "../../../escaped.jpg"
        if len(tasks) > 1:  # one batch in two answers for a file it never got
            outcomes.append(ImageOutcome(10**6, width=10, height=10))
        return outcomes


class PacklessWorker(ClusterWorker):
    """A node without the model pack's weights: its actor fails as it starts."""

    def __init__(self, config: object) -> None:
        from facesearch.errors import ModelNotFoundError

        raise ModelNotFoundError("model pack 'yunet-reid' is not installed on this node (test)")
