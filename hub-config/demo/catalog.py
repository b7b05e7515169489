"""The demo catalog: environments, resource groups and GPU types of the demo hub.

Plain data, loaded by ``jupyterhub_config.py`` into ``c.MofangPolicy``. Tests
load the same file, so the demo a newcomer sees is the one that is tested.
"""

TEMPLATES = [
    {
        "name": "python",
        "display_name": "Python data science",
        "description": "NumPy, pandas, scikit-learn and XGBoost on CPU.",
        "image": "quay.io/jupyter/scipy-notebook:2025-01-06",
        "frameworks": ["scikit-learn", "xgboost", "pandas"],
        "default": {"cpu": 1, "memory_gib": 2, "disk_gib": 10},
        "maximum": {"cpu": 4, "memory_gib": 16, "disk_gib": 50},
        "gpu_allowed": False,
    },
    {
        "name": "pytorch",
        "display_name": "PyTorch",
        "description": "PyTorch with CUDA, for training on one or more GPUs.",
        "image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06",
        "frameworks": ["pytorch"],
        "default": {"cpu": 2, "memory_gib": 4, "gpus": 0, "disk_gib": 20},
        "maximum": {"cpu": 8, "memory_gib": 32, "gpus": 2, "disk_gib": 100},
        "gpu_allowed": True,
    },
    {
        "name": "tensorflow",
        "display_name": "TensorFlow",
        "description": "TensorFlow with CUDA.",
        "image": "quay.io/jupyter/tensorflow-notebook:cuda-2025-01-06",
        "frameworks": ["tensorflow", "keras"],
        "default": {"cpu": 2, "memory_gib": 4, "gpus": 0, "disk_gib": 20},
        "maximum": {"cpu": 8, "memory_gib": 32, "gpus": 2, "disk_gib": 100},
        "gpu_allowed": True,
    },
]

GPU_TYPES = [
    {
        "name": "local-gpu",
        "display_name": "Local GPU (whole)",
        "kind": "whole",
        # Device ids handed out through CUDA_VISIBLE_DEVICES; on a machine without
        # GPUs they only show how the demo shares devices between servers.
        "local_devices": ["0", "1"],
    },
]

GROUPS = {
    "vision": {
        "display_name": "Vision team",
        "limits": {"cpu": 6, "memory_gib": 24, "gpus": 2, "disk_gib": 100},
        "gpu_types": ["local-gpu"],
        "queue": "vision",
    },
    "nlp": {
        "display_name": "NLP team",
        "limits": {"cpu": 4, "memory_gib": 16, "gpus": 0, "disk_gib": 50},
        "templates": ["python", "pytorch"],
        "queue": "nlp",
    },
}

DEFAULT_GROUP = {
    "name": "everyone",
    "display_name": "Everyone",
    "limits": {"cpu": 2, "memory_gib": 4, "gpus": 0, "disk_gib": 20},
    "templates": ["python"],
    "project_storage": False,
}

#: Demo accounts: name -> JupyterHub groups. All share the demo password.
USERS = {
    "alice": ["vision"],
    "bob": ["nlp"],
    "carol": ["vision", "nlp"],
}
ADMINS = ["admin"]
PASSWORD = "mofang"
