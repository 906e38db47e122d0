"""The package's architecture, read from its source with `ast` (nothing is imported):

- layers import only downward: core < toy < analysis < editing < demo < workflows < view < cli (README "Layout");
- click is imported only by the command modules (cli/), and no module of the package imports the lab
  (examples/research, `linkgan_research`);
- no file over 500 lines, no function over 60;
- no import circles between the package's modules;
- no import of another module's `_private` names;
- imports of the package's own modules sit at the top of the file, except lazy ones marked with a comment
  that says why (a line containing "lazy", case-insensitive, on the import or the line above it);
- no top-level modules that would shadow upstream's (`dnnlib`, `torch_utils`, `training`, `metrics`, `legacy`);
- the README's layout table names every folder of the package.
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, 'linkgan_plugin')
LAYERS = ('core', 'toy', 'analysis', 'editing', 'demo', 'workflows', 'view', 'cli')
FOLDER_LAYER = {'toy': 'toy', 'analysis': 'analysis', 'editing': 'editing', 'demo': 'demo', 'workflows': 'workflows',
                'ops': 'core', 'upstream': 'core', 'view': 'view', 'cli': 'cli'}
CLICK_LAYERS = ('cli',)          # The only layer whose modules may import click.
LAB = 'linkgan_research'         # The lab's package (examples/research): the product never imports it.
MAX_FILE_LINES, MAX_FUNCTION_LINES = 500, 60

#----------------------------------------------------------------------------
# Reading the package.

def module_files(package_dir=PACKAGE):
    """{dotted module name: path} of every .py file under the package."""
    out = {}
    base = os.path.dirname(package_dir)
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = [d for d in dirnames if not d.startswith(('_', '.'))]
        for name in filenames:
            if name.endswith('.py'):
                rel = os.path.relpath(os.path.join(dirpath, name), base)[:-3].replace(os.sep, '.')
                out[rel[:-len('.__init__')] if rel.endswith('.__init__') else rel] = os.path.join(dirpath, name)
    return out


def layer_of(module):
    """The layer of a dotted module name inside the package: its folder's (the folder's package too), else core."""
    parts = module.split('.')
    if parts[-1] == '__main__':
        return 'cli'                # `python -m linkgan_plugin` is the command line.
    return FOLDER_LAYER.get(parts[1], 'core') if len(parts) >= 2 else 'core'


def package_imports(source, modules, this_module):
    """[(line, target module, imported names, nested, comment lines)] for every import of the package's modules.

    `from linkgan_plugin.x import y` targets module `linkgan_plugin.x.y` when that is a module, else
    `linkgan_plugin.x` (importing its name y)."""
    tree = ast.parse(source)
    lines = source.split('\n')
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').startswith('linkgan_plugin'):
            for alias in node.names:
                sub = f'{node.module}.{alias.name}'
                target, name = (sub, None) if sub in modules else (node.module, alias.name)
                found.append((node, target, name))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f'{this_module}:{node.lineno}: relative import; use the absolute module path')
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('linkgan_plugin'):
                    found.append((node, alias.name, None))
    out = []
    for node, target, name in found:
        context = ' '.join(lines[max(node.lineno - 2, 0):node.end_lineno]).lower()
        out.append({'line': node.lineno, 'target': target, 'name': name, 'nested': node.col_offset > 0,
                    'marked_lazy': 'lazy' in context})
    return out


def outside_imports(source):
    """[(line, top-level name)] of every import of a module outside the package."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split('.')[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split('.')[0]))
    return out


def size_problems(source, where):
    """A file over MAX_FILE_LINES lines, and every function (or method) over MAX_FUNCTION_LINES."""
    problems = []
    lines = len(source.splitlines())
    if lines > MAX_FILE_LINES:
        problems.append(f'{where}: {lines} lines (at most {MAX_FILE_LINES}): split it by job')
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f'{where}:{node.lineno}: function {node.name} is {length} lines (at most '
                                f'{MAX_FUNCTION_LINES})')
    return problems


def layout_problems(package_dir=PACKAGE):
    """Every breach of the rules in this file's docstring, as readable strings (empty when the layout holds)."""
    modules = module_files(package_dir)
    problems, graph = [], {m: set() for m in modules}
    for module, path in sorted(modules.items()):
        with open(path, encoding='utf-8') as f:
            source = f.read()
        where = os.path.relpath(path, os.path.dirname(package_dir))
        problems += size_problems(source, where)
        for line, name in outside_imports(source):
            if name == 'click' and layer_of(module) not in CLICK_LAYERS:
                problems.append(f'{where}:{line}: {layer_of(module)} module {module} imports click; only the '
                                f'command modules (cli/) may: raise OptionError / UsageProblem / LinkganError instead')
            if name == LAB:
                problems.append(f'{where}:{line}: {module} imports the lab ({LAB}); the product never does')
        for imp in package_imports(source, modules, module):
            where = f'{os.path.relpath(path, os.path.dirname(package_dir))}:{imp["line"]}'
            target = imp['target']
            if target not in modules:
                problems.append(f'{where}: imports {target}, which is not a module of the package')
                continue
            if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(module)):
                problems.append(f'{where}: {layer_of(module)} module {module} imports upward from the '
                                f'{layer_of(target)} layer ({target})')
            if imp['name'] and imp['name'].startswith('_') and target != module:
                problems.append(f'{where}: imports the private name {imp["name"]} of {target}')
            if imp['nested'] and not imp['marked_lazy']:
                problems.append(f'{where}: imports {target} inside a function; move it to the top of the file, or '
                                f'say why it is lazy in a comment')
            if target != module and not module.endswith('__main__'):
                graph[module].add(target)
    problems += [f'import circle: {" -> ".join(cycle)}' for cycle in import_cycles(graph)]
    return problems


def import_cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each as a closed path."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component) + [sorted(component)[0]])
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles

#----------------------------------------------------------------------------
# The package as it is.

def test_the_package_layout_holds():
    problems = layout_problems()
    assert not problems, '\n'.join(problems)


def test_the_package_writes_no_torchscript():
    # torch 2.13 deprecates scripting and tracing: the package writes torch.export programs (model_files.py) and only
    # reads the TorchScript files users bring (pytest.ini lets torch's own internal scripting through).
    pattern = re.compile(r'torch\.jit\.(script|trace)\b')
    hits = []
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(root, name)
                with open(path, encoding='utf-8') as f:
                    hits += [f'{os.path.relpath(path, ROOT)}:{i + 1}' for i, line in enumerate(f) if pattern.search(line)]
    assert not hits, hits


def test_no_top_level_module_shadows_upstream():
    names = {os.path.splitext(n)[0] for n in os.listdir(PACKAGE)}
    assert not names & {'dnnlib', 'torch_utils', 'training', 'metrics', 'legacy', 'camera_utils', 'gui_utils'}


def test_readme_layout_table_names_every_folder():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    listed = set(re.findall(r'`(linkgan_plugin/[a-z_/]+/)`', readme))
    folders = {f'linkgan_plugin/{d}/' for d in os.listdir(PACKAGE)
               if os.path.isdir(os.path.join(PACKAGE, d)) and not d.startswith(('_', '.'))}
    assert folders <= listed, f'folders missing from the README layout table: {sorted(folders - listed)}'
    for path in listed:
        assert os.path.isdir(os.path.join(ROOT, path)), f'the README layout table names {path}, which does not exist'

#----------------------------------------------------------------------------
# The checker catches what it is meant to catch (a package written to a temporary folder).

def _write_package(root, files):
    package = root / 'linkgan_plugin'
    for rel, text in files.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in package.rglob('*.py')}:
        (folder / '__init__.py').touch()
    return str(package)


GOOD = {'spec.py': 'X = 1\n', 'analysis/metrics.py': 'from linkgan_plugin.spec import X\n',
        'workflows/pair.py': 'from linkgan_plugin.analysis.metrics import X\n',
        'cli/pair.py': 'import click\nfrom linkgan_plugin.workflows.pair import X\n'}


def test_checker_passes_a_downward_package(tmp_path):
    assert layout_problems(_write_package(tmp_path, GOOD)) == []


@pytest.mark.parametrize('extra, expected', [
    ({'spec.py': 'from linkgan_plugin.analysis.metrics import X\n'}, 'imports upward'),
    ({'analysis/metrics.py': 'from linkgan_plugin.workflows.pair import X\n'}, 'imports upward'),
    ({'demo/run.py': 'import click\n'}, 'imports click'),
    ({'workflows/pair.py': 'from click import echo\n'}, 'imports click'),
    ({'analysis/report.py': 'from linkgan_research.study import X\n'}, 'imports the lab'),
    ({'cli/pair.py': 'import linkgan_research\n'}, 'imports the lab'),
    ({'analysis/big.py': 'X = 1\n' * 501}, '501 lines'),
    ({'analysis/long.py': 'def f():\n' + '    x = 1\n' * 60}, 'function f is 61 lines'),
    ({'analysis/pictures.py': 'from linkgan_plugin.analysis.metrics import _secret\n'}, 'private name _secret'),
    ({'analysis/pictures.py': 'def f():\n    from linkgan_plugin.spec import X\n'}, 'inside a function'),
    ({'analysis/a.py': 'from linkgan_plugin.analysis.b import Y\n', 'analysis/b.py': 'from linkgan_plugin.analysis.a import Z\n'},
     'import circle'),
], ids=['core-imports-analysis', 'analysis-imports-workflows', 'demo-imports-click', 'workflows-from-click',
        'analysis-imports-lab', 'cli-imports-lab', 'long-file', 'long-function', 'private-name', 'unmarked-nested',
        'circle'])
def test_checker_catches_each_breach(tmp_path, extra, expected):
    problems = layout_problems(_write_package(tmp_path, {**GOOD, **extra}))
    assert any(expected in p for p in problems), problems


def test_checker_accepts_a_marked_lazy_import(tmp_path):
    files = {**GOOD, 'analysis/pictures.py': 'def f():\n    # Lazy: keeps the CLI fast.\n    from linkgan_plugin.spec import X\n'}
    assert layout_problems(_write_package(tmp_path, files)) == []
