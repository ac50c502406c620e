"""Settings for every test session of this repository."""

import os

# No test may reach a cloud metadata service: botocore asks one for credentials when an s3:// URL
# comes without them, and it is not on the loopback interface.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
