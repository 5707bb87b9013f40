"""Networks: the lightweight metric-bins student and the teachers (Depth-Anything-V2, synthetic stand-in)."""
from .student import StudentConfig, SurroundDepthStudent, build_student
from .teacher import (DepthAnythingTeacher, StandInTeacher, TeacherConfig, build_teacher,
                      tiny_depth_anything_config)

__all__ = ["DepthAnythingTeacher", "StandInTeacher", "StudentConfig", "SurroundDepthStudent", "TeacherConfig",
           "build_student", "build_teacher", "tiny_depth_anything_config"]
