-- The schema facesearch 0.1.0 (commit 5f2057d) creates in a new SQLite home, dumped with sqlite3 .schema.
-- tests/test_migrations.py builds a 0.1.0 home from it; do not edit (it is a historical record).
CREATE TABLE collections (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	model_version VARCHAR(200) NOT NULL, 
	dim INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	description TEXT, 
	source TEXT, 
	legal_basis VARCHAR(64), 
	legal_basis_note TEXT, 
	owner VARCHAR(200), 
	retention_days INTEGER, 
	keep_until_deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE users (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	password_hash TEXT NOT NULL, 
	disabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE audit_log (
	seq INTEGER NOT NULL, 
	ts VARCHAR(40) NOT NULL, 
	actor VARCHAR(100), 
	role VARCHAR(20), 
	action VARCHAR(40) NOT NULL, 
	outcome VARCHAR(40) NOT NULL, 
	ip VARCHAR(64), 
	case_ref VARCHAR(200), 
	purpose TEXT, 
	collections TEXT, 
	model VARCHAR(64), 
	threshold FLOAT, 
	probe_sha256 VARCHAR(64), 
	results TEXT, 
	details TEXT, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (prev_hash)
);
CREATE INDEX ix_audit_log_ts ON audit_log (ts);
CREATE INDEX ix_audit_log_action ON audit_log (action);
CREATE INDEX ix_audit_log_actor_ts ON audit_log (actor, ts);
CREATE INDEX ix_audit_log_actor ON audit_log (actor);
CREATE INDEX ix_audit_log_case_ref ON audit_log (case_ref);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE optouts (
	id INTEGER NOT NULL, 
	reference VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(100), 
	photos INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_optouts_reference ON optouts (reference);
CREATE TABLE purposes (
	code VARCHAR(64) NOT NULL, 
	description TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(100), 
	retired_at DATETIME, 
	retired_by VARCHAR(100), 
	PRIMARY KEY (code)
);
CREATE TABLE proposals (
	id INTEGER NOT NULL, 
	search_id INTEGER NOT NULL, 
	probe_face INTEGER NOT NULL, 
	face_id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	case_ref VARCHAR(200), 
	candidate JSON, 
	status VARCHAR(20) NOT NULL, 
	proposed_by VARCHAR(100) NOT NULL, 
	proposed_at DATETIME NOT NULL, 
	note TEXT NOT NULL, 
	decided_by VARCHAR(100), 
	decided_at DATETIME, 
	decision_note TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_proposal UNIQUE (search_id, probe_face, face_id, seq)
);
CREATE INDEX ix_proposals_case_ref ON proposals (case_ref);
CREATE INDEX ix_proposals_search_id ON proposals (search_id);
CREATE TABLE system_flags (
	"key" VARCHAR(64) NOT NULL, 
	value JSON, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR(100), 
	PRIMARY KEY ("key")
);
CREATE TABLE ingest_jobs (
	id INTEGER NOT NULL, 
	collection_id INTEGER NOT NULL, 
	source TEXT NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(20) NOT NULL, 
	counts JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(collection_id) REFERENCES collections (id) ON DELETE CASCADE
);
CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	label VARCHAR(200) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	last_used_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
	UNIQUE (token_hash)
);
CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);
CREATE TABLE web_sessions (
	id_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	csrf_token VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	ip VARCHAR(64), 
	PRIMARY KEY (id_hash), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_web_sessions_user_id ON web_sessions (user_id);
CREATE TABLE optout_templates (
	id INTEGER NOT NULL, 
	optout_id INTEGER NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	model_version VARCHAR(200) NOT NULL, 
	dim INTEGER NOT NULL, 
	embedding BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(optout_id) REFERENCES optouts (id) ON DELETE CASCADE
);
CREATE INDEX ix_optout_templates_model ON optout_templates (model);
CREATE INDEX ix_optout_templates_optout_id ON optout_templates (optout_id);
CREATE TABLE images (
	id INTEGER NOT NULL, 
	collection_id INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	path TEXT, 
	source_url TEXT, 
	metadata JSON, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	face_count INTEGER NOT NULL, 
	job_id INTEGER, 
	manifest_row INTEGER, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_image_collection_sha UNIQUE (collection_id, sha256), 
	FOREIGN KEY(collection_id) REFERENCES collections (id) ON DELETE CASCADE, 
	FOREIGN KEY(job_id) REFERENCES ingest_jobs (id) ON DELETE SET NULL
);
CREATE INDEX ix_images_ingested_at ON images (ingested_at);
CREATE INDEX ix_images_collection_id ON images (collection_id);
CREATE TABLE ingest_failures (
	id INTEGER NOT NULL, 
	job_id INTEGER NOT NULL, 
	path TEXT NOT NULL, 
	reason VARCHAR(64) NOT NULL, 
	detail TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(job_id) REFERENCES ingest_jobs (id) ON DELETE CASCADE
);
CREATE INDEX ix_ingest_failures_job_id ON ingest_failures (job_id);
CREATE TABLE faces (
	id INTEGER NOT NULL, 
	image_id INTEGER NOT NULL, 
	collection_id INTEGER NOT NULL, 
	face_index INTEGER NOT NULL, 
	x1 FLOAT NOT NULL, 
	y1 FLOAT NOT NULL, 
	x2 FLOAT NOT NULL, 
	y2 FLOAT NOT NULL, 
	landmarks JSON NOT NULL, 
	det_score FLOAT NOT NULL, 
	quality FLOAT NOT NULL, 
	quality_reasons JSON NOT NULL, 
	embedding BLOB NOT NULL, 
	thumbnail TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id) ON DELETE CASCADE, 
	FOREIGN KEY(collection_id) REFERENCES collections (id) ON DELETE CASCADE
);
CREATE INDEX ix_faces_collection_id ON faces (collection_id);
CREATE INDEX ix_faces_image_id ON faces (image_id);
CREATE INDEX ix_faces_collection_id_id ON faces (collection_id, id);
