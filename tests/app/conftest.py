"""The application tests share the root conftest's studies (`study_of`, `copy_study`)."""
