# Node-side: where each named tool is on PATH (null when absent); prints JSON.
import json
import shutil
import sys

sys.stdout.write(json.dumps({tool: shutil.which(tool) for tool in json.loads(sys.argv[1])}))
