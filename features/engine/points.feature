# language: zh-CN
功能: 计分方式(points):固定分、按单位(小时)、审核人在区间内酌定
  分值是精确的小数(最小单位 0.01),按积分类型的步长取整,从不使用浮点数。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
        - {key: hours, name: 志愿服务时长, holder: person, unit: 小时, step: 0.5, period: year}
      event_types:
        - key: volunteer
          name: 志愿服务
          subject: person
          fields:
            - {name: hours, type: decimal, required: true, label: 小时}
        - {key: brave, name: 见义勇为, subject: person}
        - {key: cheat, name: 提供虚假信息, subject: person}
      rules:
        - id: VH
          name: 志愿服务时长
          point_type: hours
          event: volunteer
          points: {per_unit: {field: hours, rate: 1}}
        - id: VM
          name: 志愿服务(每小时 2 分)
          point_type: moral
          event: volunteer
          points: {per_unit: {field: hours, rate: 2}}
        - id: B1
          name: 见义勇为
          point_type: moral
          event: brave
          points: {range: [10, 50]}
        - id: C1
          name: 向村里提供虚假信息
          point_type: moral
          event: cheat
          points: {fixed: -10}
      """

  场景: 按小时计分,一次志愿服务同时记入个人时长和农户的道德积分
    当 录入以下事件:
      | 编号 | 类型      | 时间             | 村民 | 字段        |
      | v1   | volunteer | 2026-04-01 09:00 | P1   | hours=2.5   |
      | v2   | volunteer | 2026-04-02 09:00 | P1   | hours=1.25  |
    那么 事件 v1 按规则 VH 记 2.5 分,说明为:
      """
      2.5 小时 × 1 = +2.5
      """
    并且 事件 v1 按规则 VM 记 5 分
    并且 事件 v2 按规则 VH 记 1.5 分,说明为:
      """
      1.25 小时 × 1 = +1.5
      """
    并且 事件 v2 按规则 VM 记 2.5 分
    并且 P1 的 hours 余额为 4
    并且 H1 的 moral 余额为 7.5

  场景: 小时数不是数字时整条记录退回,并指明字段
    当 录入以下事件:
      | 编号 | 类型      | 时间             | 村民 | 字段      |
      | v1   | volunteer | 2026-04-01 09:00 | P1   | hours=两个 |
    那么 事件 v1 被退回,提示:
      """
      v1 [hours]: 字段 “小时” 应为数字,收到 “两个”
      v1 [hours]: field '小时' must be a number, got '两个'
      """
    并且 P1 共有 0 条 hours 记录

  场景: 固定分可以是扣分
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 |
      | c1   | cheat | 2026-04-01 09:00 | P1   |
    那么 事件 c1 按规则 C1 记 -10 分,说明为:
      """
      基础分 -10
      """
    并且 H1 的 moral 余额为 -10

  场景: 区间计分由审核人在区间内酌定
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 | 分值 | 审核人 |
      | b1   | brave | 2026-04-01 09:00 | P1   | 30.5 | 书记   |
    那么 事件 b1 按规则 B1 记 30.5 分,说明为:
      """
      审核人酌定 +30.5(区间 10–50)
      """
    并且 事件 b1 按规则 B1 的英文说明为:
      """
      chosen by reviewer +30.5 (range 10-50)
      """
    并且 H1 的 moral 余额为 30.5

  场景: 区间计分未填分值、超出区间或不合步长时退回
    当 录入以下事件:
      | 编号 | 类型  | 时间             | 村民 | 分值  | 审核人 |
      | b1   | brave | 2026-04-01 09:00 | P1   |       | 书记   |
      | b2   | brave | 2026-04-02 09:00 | P1   | 60    | 书记   |
      | b3   | brave | 2026-04-03 09:00 | P1   | 9.5   | 书记   |
      | b4   | brave | 2026-04-04 09:00 | P1   | 20.25 | 书记   |
      | b5   | brave | 2026-04-05 09:00 | P1   | 50    | 书记   |
    那么 事件 b1 被退回,提示:
      """
      b1 [points]: 规则 B1 由审核人在 10–50 分之间酌定,请填写 points
      b1 [points]: rule B1 is scored by the reviewer within 10-50; give points
      """
    并且 事件 b2 被退回,提示:
      """
      b2 [points]: 分值 60 超出规则 B1 的区间 10–50
      b2 [points]: points 60 are outside rule B1's range 10-50
      """
    并且 事件 b3 的结果为“退回”
    并且 事件 b4 的结果为“退回”
    并且 事件 b5 按规则 B1 记 50 分
    并且 H1 的 moral 余额为 50
