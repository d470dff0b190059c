# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "rich",
#   "colorama; sys_platform == 'win32'",
# ]
# ///
print("hi")
