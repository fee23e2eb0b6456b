'use strict';

/*
 * `serverless deploy` for switch, on the platform Google supports now.
 *
 * serverless-google-cloudfunctions deploys through Cloud Deployment Manager,
 * which Google shut down on 2026-03-31, and only as 1st gen functions; no
 * maintained fork does otherwise, and Serverless v4 has no Google provider.
 * So this plugin owns the deploy step: it takes the Google plugin's deploy
 * hooks (and the packaging that only fed them) out of `serverless deploy`
 * and hands the deploy to `python -m switch deploy`, which deploys both
 * entry points as Cloud Run functions (2nd gen) through the Cloud Functions
 * v2 API. serverless.yml stays the declaration: the stage, region and project
 * it resolves are what gets deployed. `serverless package` is untouched and
 * still works offline.
 *
 * The Python interpreter: SWITCH_PYTHON, else .venv/bin/python next to
 * serverless.yml, else python3.
 */

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const DEPLOY_EVENTS = ['before:deploy:deploy', 'deploy:deploy', 'after:deploy:deploy'];
// GoogleDeploy: Deployment Manager. GoogleInfo: lists 1st gen functions after a deploy.
// Deploy (core): packages for the Google plugin's upload, which no longer happens.
const PLACEHOLDER_PROJECT = 'set-SWITCH_PROJECT'; // serverless.yml's fallback, so `package` runs with nothing set
const REPLACED_PLUGINS = new Set(['GoogleDeploy', 'GoogleInfo', 'Deploy']);

class SwitchDeploy {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options;
    // Plugins listed before this one in serverless.yml have registered their hooks by now.
    const { hooks } = serverless.pluginManager;
    for (const event of DEPLOY_EVENTS) {
      hooks[event] = (hooks[event] || []).filter((hook) => !REPLACED_PLUGINS.has(hook.pluginName));
    }
    this.hooks = { 'deploy:deploy': () => this.deploy() };
  }

  python() {
    if (process.env.SWITCH_PYTHON) return process.env.SWITCH_PYTHON;
    const venv = path.join(this.serverless.serviceDir, '.venv', 'bin', 'python');
    return fs.existsSync(venv) ? venv : 'python3';
  }

  deploy() {
    const { provider } = this.serverless.service;
    const stage = this.options.stage || provider.stage || 'dev';
    const args = ['-m', 'switch', 'deploy', '--stage', stage];
    // serverless.yml reads SWITCH_REGION and SWITCH_PROJECT itself; a value written
    // into the file instead reaches the deploy too. Its placeholder never does.
    const env = { ...process.env };
    if (!env.SWITCH_REGION && provider.region) env.SWITCH_REGION = provider.region;
    if (!env.SWITCH_PROJECT && provider.project && provider.project !== PLACEHOLDER_PROJECT) {
      env.SWITCH_PROJECT = provider.project;
    }
    const python = this.python();
    this.serverless.cli.log(`switch: ${python} ${args.join(' ')} (Cloud Run functions, 2nd gen)`);
    const result = spawnSync(python, args, { cwd: this.serverless.serviceDir, env, stdio: 'inherit' });
    if (result.error) {
      throw new this.serverless.classes.Error(
        `could not run ${python}: ${result.error.message}; install the Python requirements ` +
          '(python3 -m venv .venv && .venv/bin/pip install -r requirements.txt) or set SWITCH_PYTHON'
      );
    }
    if (result.status !== 0) {
      throw new this.serverless.classes.Error(`python -m switch deploy failed (exit ${result.status}); see above`);
    }
  }
}

module.exports = SwitchDeploy;
