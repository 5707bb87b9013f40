"""Networks: the lightweight metric-bins student (and, with the training issue, the teacher wrappers)."""
from .student import StudentConfig, SurroundDepthStudent, build_student

__all__ = ["StudentConfig", "SurroundDepthStudent", "build_student"]
