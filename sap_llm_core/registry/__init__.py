"""Model registry promotion: challenger -> champion only past targets and the current champion."""
