#!/usr/bin/env bash
# paths.sh: every path the installer writes or a daemon uses, under the test root prefix ${WCB_ROOT}.
# The lab's lib/service.sh (direct backend) reads the same variables, so no config is copied.
set -euo pipefail

# usage: wcb_paths_init   set (and export, for lib/service.sh and its daemons) the WCB_P_* paths from ${WCB_ROOT}
wcb_paths_init() {
    local r="${WCB_ROOT:-}"
    export WCB_ROOT_PREFIX="$r"
    export WCB_P_HOSTS="$r/etc/hosts"
    export WCB_P_REPO_FILE="$r/etc/yum.repos.d/wcbundle.repo"
    export WCB_P_STATE_DIR="$r/var/lib/wcbundle"
    export WCB_P_RUN_DIR="$r/run/wcbundle"
    # db-node
    export WCB_P_DB_CNF="$r/etc/my.cnf.d/galera.cnf"
    export WCB_P_DB_DATADIR="$r/var/lib/mysql"
    export WCB_P_DB_SOCKET="$r/var/lib/mysql/mysql.sock"
    export WCB_P_DB_PIDFILE="$r/var/lib/mysql/mariadb.pid"
    export WCB_P_DB_LOG="$r/var/log/mariadb/mariadb.log"
    export WCB_P_DB_GRASTATE="$r/var/lib/mysql/grastate.dat"
    # arbitrator
    export WCB_P_GARB_CONF="$r/etc/sysconfig/garb"
    # mq-node
    export WCB_P_MQ_CONF_DIR="$r/etc/rabbitmq"
    export WCB_P_MQ_ENV="$r/etc/rabbitmq/rabbitmq-env.conf"
    export WCB_P_MQ_CONF="$r/etc/rabbitmq/rabbitmq.conf"
    export WCB_P_MQ_PLUGINS="$r/etc/rabbitmq/enabled_plugins"
    export WCB_P_MQ_HOME="$r/var/lib/rabbitmq"
    export WCB_P_MQ_COOKIE="$r/var/lib/rabbitmq/.erlang.cookie"
    export WCB_P_MQ_MNESIA_BASE="$r/var/lib/rabbitmq/mnesia"
    export WCB_P_MQ_LOG_BASE="$r/var/log/rabbitmq"
    export WCB_P_MQ_DROPIN_DIR="$r/etc/systemd/system/rabbitmq-server.service.d"
    export WCB_P_MQ_DROPIN="$r/etc/systemd/system/rabbitmq-server.service.d/wcbundle.conf"
    # app-node
    export WCB_P_APP_DIR="$r/opt/workcenter"
    export WCB_P_APP_JARFILE="$r/opt/workcenter/WorkCenter.jar"
    export WCB_P_APP_CONF="$r/opt/workcenter/WorkCenter-app.yml"
    export WCB_P_APP_UNIT="$r/etc/systemd/system/workcenter.service"
    export WCB_P_APP_LOG_DIR="$r/var/log/workcenter"
}
